// Drives Proem's MCP server with the official TypeScript SDK, as an agent host would: list tools,
// create a prompt, run it with progress, finalize the run, read the record back. Prints one JSON
// summary line on stdout and exits non-zero when a check fails.
//
//   node client.mjs --http http://127.0.0.1:8080/mcp --key pmk_… [--model MODEL_ID]
//   node client.mjs --stdio /path/to/proem --url http://127.0.0.1:8080 --key pmk_… [--model MODEL_ID]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const { values: args } = parseArgs({
  options: {
    http: { type: 'string' },
    stdio: { type: 'string' },
    url: { type: 'string' },
    key: { type: 'string' },
    model: { type: 'string' },
  },
});

const sdkVersion = JSON.parse(
  fs.readFileSync(new URL('../node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url)),
).version;

function check(ok, what, detail) {
  if (!ok) {
    throw new Error(`check failed: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

/** Calls a tool and returns its structuredContent; a tool error fails the run. */
async function call(client, name, toolArgs, options) {
  const result = await client.callTool({ name, arguments: toolArgs }, undefined, options);
  check(!result.isError, `${name} succeeded`, result.content);
  check(result.structuredContent && typeof result.structuredContent === 'object', `${name} has structuredContent`, result);
  return result;
}

function transport() {
  if (args.http && args.key) {
    return {
      name: 'streamable-http',
      transport: new StreamableHTTPClientTransport(new URL(args.http), {
        requestInit: { headers: { Authorization: `Bearer ${args.key}` } },
      }),
    };
  }
  if (args.stdio && args.url && args.key) {
    // A config dir of its own, so no saved login on this machine is read.
    const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'proem-interop-'));
    process.on('exit', () => fs.rmSync(configDir, { recursive: true, force: true }));
    return {
      name: 'proem-mcp-stdio',
      transport: new StdioClientTransport({
        command: args.stdio,
        args: ['mcp'],
        env: { PROEM_API_URL: args.url, PROEM_API_KEY: args.key, PROEM_CONFIG_DIR: configDir },
        stderr: 'inherit',
      }),
    };
  }
  throw new Error('usage: --http MCP_URL --key KEY | --stdio PROEM_BIN --url SERVER_URL --key KEY [--model ID]');
}

async function main() {
  const { name: transportName, transport: t } = transport();
  // The client keeps the negotiated version to itself; it hands it to the transport, so note it there.
  let protocolVersion;
  const setProtocolVersion = t.setProtocolVersion?.bind(t);
  t.setProtocolVersion = (version) => {
    protocolVersion = version;
    setProtocolVersion?.(version);
  };
  const client = new Client({ name: 'proem-interop-ts', version: sdkVersion });
  await client.connect(t);
  // Progress notifications as they arrive, before the SDK dispatches them. SDK v1 dispatches a
  // response at once but a notification a microtask later, so progress read together with the
  // result (one stdio chunk) reaches `onprogress` after the call has retired its handler, and is
  // dropped (typescript-sdk#2580). What Proem sent is what arrived here.
  const wireProgress = [];
  const dispatch = t.onmessage;
  t.onmessage = (message, extra) => {
    if (message.method === 'notifications/progress') wireProgress.push(message.params);
    dispatch(message, extra);
  };
  try {
    const server = client.getServerVersion();
    check(server?.name === 'proem', 'serverInfo.name is proem', server);

    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...page.tools.map((tool) => tool.name));
      cursor = page.nextCursor;
    } while (cursor);
    for (const name of ['proem_get_catalog', 'proem_create_prompt', 'proem_run_prompt', 'proem_finalize_run', 'proem_get_record']) {
      check(tools.includes(name), `tools/list has ${name}`, tools);
    }

    const catalog = (await call(client, 'proem_get_catalog', {})).structuredContent;
    check(Array.isArray(catalog.models) && catalog.models.length > 0, 'the catalog lists models', catalog);
    const modelId = args.model ?? catalog.models[0].model_id;
    check(catalog.models.some((m) => m.model_id === modelId), `the catalog has ${modelId}`);

    const created = (
      await call(client, 'proem_create_prompt', {
        name: `Interop TypeScript SDK ${transportName}`,
        promptText: 'Summarize the input in one line.',
        modelSettings: { model_id: modelId, parameters: {} },
      })
    ).structuredContent;
    check(/^prm_/.test(created.promptId), 'proem_create_prompt returns a promptId', created);

    // With onprogress the SDK sends a progress token; each notification's message is a text delta.
    const progress = [];
    const progressBefore = wireProgress.length;
    const ran = await call(
      client,
      'proem_run_prompt',
      { promptId: created.promptId, userInput: 'interop', autoFinalize: false },
      { onprogress: (p) => progress.push(p) },
    );
    const run = ran.structuredContent;
    check(progress.length > 0, 'at least one progress notification reached onprogress');
    const sent = wireProgress.slice(progressBefore);
    const deltas = sent.map((p) => p.message);
    check(deltas.every((d) => typeof d === 'string' && d.length > 0), 'every progress notification carries delta text', sent);
    check(sent.every((p, i) => i === 0 || p.progress > sent[i - 1].progress), 'progress increases', sent);
    check(deltas.join('') === run.outputText, 'the output equals the concatenated deltas', { deltas, outputText: run.outputText });
    check(ran.content[0]?.type === 'text' && ran.content[0].text === run.outputText, 'the first content block is the output', ran.content);
    check(run.recordId == null && run.state === 'Active', 'autoFinalize false leaves the run unsaved', run);

    const finalized = (await call(client, 'proem_finalize_run', { runId: run.runId })).structuredContent;
    check(/^rec_/.test(finalized.recordId), 'proem_finalize_run returns a recordId', finalized);

    const record = (await call(client, 'proem_get_record', { recordId: finalized.recordId })).structuredContent;
    check(record.id === finalized.recordId, 'proem_get_record returns that record', record);
    check(record.runSessionId === run.runId, 'the record is of this run', record);
    check(record.outputText === run.outputText, 'the record holds the streamed output', { record: record.outputText, run: run.outputText });

    console.log(
      JSON.stringify({
        sdk: 'typescript',
        sdkVersion,
        transport: transportName,
        protocolVersion,
        server,
        tools: tools.length,
        modelId,
        promptId: created.promptId,
        runId: run.runId,
        recordId: finalized.recordId,
        deltas,
        outputText: run.outputText,
      }),
    );
  } finally {
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`ts client (${sdkVersion}): ${e?.stack ?? e}`);
    process.exit(1);
  },
);

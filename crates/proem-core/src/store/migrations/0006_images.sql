-- Image-output runs: the images a record keeps (a JSON array of {mimeType, blobKey}, every turn's,
-- in turn order), and the blobs a rewind or a delete dropped, for the cleanup worker to delete
-- once nothing refers to them.
ALTER TABLE records ADD COLUMN images TEXT NOT NULL DEFAULT '[]';

CREATE TABLE blob_cleanup_queue (
    blob_key TEXT PRIMARY KEY,
    enqueued_at BIGINT NOT NULL
);

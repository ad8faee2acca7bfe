-- The stream partition (subject) each row's event came from. A persist worker resumes a
-- partition after the highest stream_seq stored for it, per table, so a redelivered or
-- replayed event never yields a second copy of its rows. One column per ALTER: the
-- runner treats "column already exists" as applied (18.16 has no ADD COLUMN IF NOT EXISTS).
ALTER TABLE {db}.spans ADD COLUMN stream_partition UInt16 DEFAULT 0;
ALTER TABLE {db}.logs ADD COLUMN stream_partition UInt16 DEFAULT 0;
ALTER TABLE {db}.metric_points ADD COLUMN stream_partition UInt16 DEFAULT 0;

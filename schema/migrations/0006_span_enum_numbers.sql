-- A span's kind and status code as sent. kind and status_code are Enum8s of the values
-- OTLP names today; OTLP receivers accept any other value (a newer or a wrong one), so
-- it is stored here, and the API shows it as its number instead of turning it into
-- "unspecified" or "unset". Rows written before this column read 0 (a named value):
-- the API then shows the Enum8's name, as it did.
ALTER TABLE {db}.spans ADD COLUMN kind_number Int32 DEFAULT 0;
ALTER TABLE {db}.spans ADD COLUMN status_number Int32 DEFAULT 0;

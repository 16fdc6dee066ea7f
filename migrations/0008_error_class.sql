-- The class of a failed run's error (`invalidQuery`, `kvRejected`, …) beside
-- its text, so alerts and the dashboard read it instead of parsing the text.
ALTER TABLE runs ADD COLUMN error_class TEXT;

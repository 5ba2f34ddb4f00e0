-- Records of storage.Store. Values arrive sealed by the barrier; keys are
-- bytea so that ORDER BY is byte order whatever the collation.
CREATE TABLE trent_records (
	key   bytea PRIMARY KEY,
	value bytea NOT NULL
);

-- The change log of storage.Watcher: one row per committed transaction
-- that wrote, with the keys it wrote. Versions come from the sequence under
-- a transaction advisory lock held until commit, so they follow commit order.
CREATE SEQUENCE trent_change_version AS bigint;
CREATE TABLE trent_changes (
	version   bigint PRIMARY KEY DEFAULT nextval('trent_change_version'),
	keys      bytea[] NOT NULL,
	committed timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER SEQUENCE trent_change_version OWNED BY trent_changes.version;

-- Every version up to this one has been pruned from trent_changes.
CREATE TABLE trent_changes_pruned (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint NOT NULL
);
INSERT INTO trent_changes_pruned (version) VALUES (0);

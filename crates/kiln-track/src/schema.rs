//! The database schema as an ordered list of migration steps, once for SQLite and once for
//! PostgreSQL with the same version numbers. Step `i` (0-based) moves a store from version `i`
//! (`PRAGMA user_version`, or the `kiln_schema` row) to `i + 1`; steps are only ever appended,
//! never edited.

/// `PRAGMA application_id` of every kiln store: the ASCII bytes `KILN`.
pub const APPLICATION_ID: i32 = 0x4B49_4C4E;

/// Migration steps, oldest first. The schema version of a store is the number of steps applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2];

/// The same steps for PostgreSQL, one for one.
pub(crate) const PG_MIGRATIONS: &[&str] = &[PG_V1, PG_V2];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const _: () = assert!(MIGRATIONS.len() == PG_MIGRATIONS.len(), "each backend has every version");

/// Every table of a store with its columns and key (in an order that respects the foreign
/// keys): what a copy between stores reads and writes, row for row.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "runs",
        columns: &[
            "pk",
            "id",
            "name",
            "command",
            "status",
            "config",
            "config_hash",
            "data_hash",
            "schema_hash",
            "split_hash",
            "git_commit",
            "git_dirty",
            "seed",
            "device",
            "kiln_version",
            "pid",
            "host",
            "started_ms",
            "ended_ms",
            "error",
        ],
        key: &["pk"],
        generated: Some("pk"),
    },
    Table { name: "params", columns: &["run", "key", "value"], key: &["run", "key"], generated: None },
    Table { name: "metrics", columns: &["run", "key", "step", "value"], key: &["run", "key", "step"], generated: None },
    Table { name: "latest_metrics", columns: &["run", "key", "step", "value"], key: &["run", "key"], generated: None },
    Table {
        name: "artifacts",
        columns: &["run", "path", "sha256", "size_bytes", "logged_ms"],
        key: &["run", "path"],
        generated: None,
    },
    Table { name: "models", columns: &["name", "created_ms"], key: &["name"], generated: None },
    Table {
        name: "model_versions",
        columns: &[
            "name",
            "version",
            "run_id",
            "bundle_path",
            "bundle_sha256",
            "passed",
            "verdict",
            "actor",
            "created_ms",
        ],
        key: &["name", "version"],
        generated: None,
    },
    Table {
        name: "aliases",
        columns: &["name", "alias", "version", "updated_ms"],
        key: &["name", "alias"],
        generated: None,
    },
    Table {
        name: "alias_history",
        columns: &[
            "seq",
            "name",
            "alias",
            "from_version",
            "to_version",
            "action",
            "forced",
            "actor",
            "reason",
            "at_ms",
        ],
        key: &["seq"],
        generated: Some("seq"),
    },
    Table {
        name: "audit",
        columns: &["seq", "at_ms", "actor", "action", "target", "reason", "details", "prev_hash", "hash"],
        key: &["seq"],
        generated: None,
    },
    Table { name: "audit_head", columns: &["id", "seq", "hash"], key: &["id"], generated: None },
    Table {
        name: "rollouts",
        columns: &[
            "id",
            "name",
            "champion_version",
            "challenger_version",
            "phase",
            "step",
            "share",
            "step_started_ms",
            "started_ms",
            "ended_ms",
            "reason",
            "plan",
            "figures",
        ],
        key: &["id"],
        generated: Some("id"),
    },
];

/// One table of the schema, as a copy sees it.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    /// Its primary key, the order rows are copied in.
    pub(crate) key: &'static [&'static str],
    /// The column whose values the database generates (PostgreSQL's identity sequence).
    pub(crate) generated: Option<&'static str>,
}

const V1: &str = r"
CREATE TABLE runs (
    pk            INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    command       TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    config        TEXT NOT NULL,
    config_hash   TEXT NOT NULL,
    data_hash     TEXT,
    schema_hash   TEXT,
    split_hash    TEXT,
    git_commit    TEXT,
    git_dirty     INTEGER,
    seed          INTEGER,
    device        TEXT,
    kiln_version  TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    host          TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER,
    error         TEXT
) STRICT;
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE INDEX runs_by_status ON runs (status, started_ms);
CREATE INDEX runs_by_data ON runs (data_hash);

CREATE TABLE params (
    run    INTEGER NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX params_by_value ON params (key, value);

-- A NULL value is a NaN (SQLite stores NaN as NULL).
CREATE TABLE metrics (
    run    INTEGER NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    step   INTEGER NOT NULL,
    value  REAL,
    PRIMARY KEY (run, key, step)
) STRICT, WITHOUT ROWID;

-- The value at the highest step of each series, kept by the trigger below, indexed by value
-- so that `runs list --metric auc>=0.9 --sort auc` reads only the rows it returns.
CREATE TABLE latest_metrics (
    run    INTEGER NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    step   INTEGER NOT NULL,
    value  REAL,
    PRIMARY KEY (run, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value);

CREATE TRIGGER metrics_keep_latest AFTER INSERT ON metrics
BEGIN
    INSERT INTO latest_metrics (run, key, step, value)
    VALUES (NEW.run, NEW.key, NEW.step, NEW.value)
    ON CONFLICT (run, key) DO UPDATE SET step = excluded.step, value = excluded.value
        WHERE excluded.step >= latest_metrics.step;
END;

CREATE TABLE artifacts (
    run         INTEGER NOT NULL REFERENCES runs (pk),
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  INTEGER,
    logged_ms   INTEGER NOT NULL,
    PRIMARY KEY (run, path)
) STRICT, WITHOUT ROWID;

CREATE TABLE models (
    name        TEXT PRIMARY KEY,
    created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE model_versions (
    name           TEXT NOT NULL REFERENCES models (name),
    version        INTEGER NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    bundle_path    TEXT NOT NULL,
    bundle_sha256  TEXT NOT NULL,
    passed         INTEGER NOT NULL,
    verdict        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
CREATE INDEX model_versions_by_run ON model_versions (run_id);
CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END;
CREATE TRIGGER model_versions_kept BEFORE DELETE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions are never deleted'); END;

CREATE TABLE aliases (
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
) STRICT;

CREATE TABLE alias_history (
    seq           INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    alias         TEXT NOT NULL,
    from_version  INTEGER,
    to_version    INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    forced        INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT,
    at_ms         INTEGER NOT NULL,
    FOREIGN KEY (name, to_version) REFERENCES model_versions (name, version)
) STRICT;
CREATE INDEX alias_history_by_alias ON alias_history (name, alias, seq);
CREATE TRIGGER alias_history_no_update BEFORE UPDATE ON alias_history
BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;
CREATE TRIGGER alias_history_no_delete BEFORE DELETE ON alias_history
BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_target ON audit (target);
CREATE INDEX audit_by_action ON audit (action);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The last appended audit row, written in the same transaction: a truncated tail shows up as
-- a head that points past the last row.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
) STRICT;
";

/// Gradual rollouts of a challenger version against the champion: one row per rollout, moved
/// through its phases by compare-and-set updates. At most one rollout per model is active
/// (shadow or canary) at a time.
const V2: &str = r"
CREATE TABLE rollouts (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL REFERENCES models (name),
    champion_version    INTEGER NOT NULL,
    challenger_version  INTEGER NOT NULL,
    phase               TEXT NOT NULL
                        CHECK (phase IN ('shadow', 'canary', 'promoted', 'rolled_back', 'aborted')),
    step                INTEGER NOT NULL,
    share               REAL NOT NULL,
    step_started_ms     INTEGER NOT NULL,
    started_ms          INTEGER NOT NULL,
    ended_ms            INTEGER,
    reason              TEXT,
    plan                TEXT NOT NULL,
    figures             TEXT NOT NULL,
    FOREIGN KEY (name, champion_version) REFERENCES model_versions (name, version),
    FOREIGN KEY (name, challenger_version) REFERENCES model_versions (name, version)
) STRICT;
CREATE INDEX rollouts_by_name ON rollouts (name, id);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (name) WHERE phase IN ('shadow', 'canary');
";

/// V1 on PostgreSQL: the same tables and guarantees. Immutable and append-only tables refuse
/// UPDATE, DELETE and TRUNCATE in triggers; `latest_metrics` is kept by a trigger on both
/// insert and update (an upsert of a step is an update here). `kiln_locks` names the holders
/// of named store locks (the locks themselves are session advisory locks).
const PG_V1: &str = r"
CREATE FUNCTION kiln_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END $$;

CREATE TABLE runs (
    pk            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    command       TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    config        TEXT NOT NULL,
    config_hash   TEXT NOT NULL,
    data_hash     TEXT,
    schema_hash   TEXT,
    split_hash    TEXT,
    git_commit    TEXT,
    git_dirty     BIGINT,
    seed          BIGINT,
    device        TEXT,
    kiln_version  TEXT NOT NULL,
    pid           BIGINT NOT NULL,
    host          TEXT NOT NULL,
    started_ms    BIGINT NOT NULL,
    ended_ms      BIGINT,
    error         TEXT
);
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE INDEX runs_by_status ON runs (status, started_ms);
CREATE INDEX runs_by_data ON runs (data_hash text_pattern_ops);

CREATE TABLE params (
    run    BIGINT NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run, key)
);
CREATE INDEX params_by_value ON params (key, value);

CREATE TABLE metrics (
    run    BIGINT NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    step   BIGINT NOT NULL,
    value  DOUBLE PRECISION,
    PRIMARY KEY (run, key, step)
);

CREATE TABLE latest_metrics (
    run    BIGINT NOT NULL REFERENCES runs (pk),
    key    TEXT NOT NULL,
    step   BIGINT NOT NULL,
    value  DOUBLE PRECISION,
    PRIMARY KEY (run, key)
);
CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value);

CREATE FUNCTION kiln_keep_latest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO latest_metrics (run, key, step, value)
    VALUES (NEW.run, NEW.key, NEW.step, NEW.value)
    ON CONFLICT (run, key) DO UPDATE SET step = excluded.step, value = excluded.value
        WHERE excluded.step >= latest_metrics.step;
    RETURN NULL;
END $$;
CREATE TRIGGER metrics_keep_latest AFTER INSERT OR UPDATE ON metrics
FOR EACH ROW EXECUTE FUNCTION kiln_keep_latest();

CREATE TABLE artifacts (
    run         BIGINT NOT NULL REFERENCES runs (pk),
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT,
    logged_ms   BIGINT NOT NULL,
    PRIMARY KEY (run, path)
);

CREATE TABLE models (
    name        TEXT PRIMARY KEY,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE model_versions (
    name           TEXT NOT NULL REFERENCES models (name),
    version        BIGINT NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    bundle_path    TEXT NOT NULL,
    bundle_sha256  TEXT NOT NULL,
    passed         BIGINT NOT NULL,
    verdict        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);
CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('model versions are immutable');
CREATE TRIGGER model_versions_kept BEFORE DELETE ON model_versions
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('model versions are never deleted');
CREATE TRIGGER model_versions_not_truncated BEFORE TRUNCATE ON model_versions
FOR EACH STATEMENT EXECUTE FUNCTION kiln_refuse('model versions are never deleted');

CREATE TABLE aliases (
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
);

CREATE TABLE alias_history (
    seq           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name          TEXT NOT NULL,
    alias         TEXT NOT NULL,
    from_version  BIGINT,
    to_version    BIGINT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    forced        BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT,
    at_ms         BIGINT NOT NULL,
    FOREIGN KEY (name, to_version) REFERENCES model_versions (name, version)
);
CREATE INDEX alias_history_by_alias ON alias_history (name, alias, seq);
CREATE TRIGGER alias_history_no_update BEFORE UPDATE ON alias_history
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('alias history is append-only');
CREATE TRIGGER alias_history_no_delete BEFORE DELETE ON alias_history
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('alias history is append-only');
CREATE TRIGGER alias_history_no_truncate BEFORE TRUNCATE ON alias_history
FOR EACH STATEMENT EXECUTE FUNCTION kiln_refuse('alias history is append-only');

CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit (target);
CREATE INDEX audit_by_action ON audit (action);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('the audit log is append-only');
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION kiln_refuse('the audit log is append-only');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION kiln_refuse('the audit log is append-only');

CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);

CREATE TABLE kiln_locks (
    what      TEXT PRIMARY KEY,
    pid       BIGINT NOT NULL,
    host      TEXT NOT NULL,
    since_ms  BIGINT NOT NULL
);
";

/// V2 on PostgreSQL: rollouts.
const PG_V2: &str = r"
CREATE TABLE rollouts (
    id                  BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name                TEXT NOT NULL REFERENCES models (name),
    champion_version    BIGINT NOT NULL,
    challenger_version  BIGINT NOT NULL,
    phase               TEXT NOT NULL
                        CHECK (phase IN ('shadow', 'canary', 'promoted', 'rolled_back', 'aborted')),
    step                BIGINT NOT NULL,
    share               DOUBLE PRECISION NOT NULL,
    step_started_ms     BIGINT NOT NULL,
    started_ms          BIGINT NOT NULL,
    ended_ms            BIGINT,
    reason              TEXT,
    plan                TEXT NOT NULL,
    figures             TEXT NOT NULL,
    FOREIGN KEY (name, champion_version) REFERENCES model_versions (name, version),
    FOREIGN KEY (name, challenger_version) REFERENCES model_versions (name, version)
);
CREATE INDEX rollouts_by_name ON rollouts (name, id);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (name) WHERE phase IN ('shadow', 'canary');
";

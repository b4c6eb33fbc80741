"""The trace DB schema: synth-ai's tracing v3 tables, synthkit's judge tables, a version row.

The v3 tables keep synth-ai 0.2.24's DDL (names, types, CHECKs), so a DB written by either tool
opens in the other. synthkit adds its own tables next to them and records its schema version in
`synthkit_meta`; a DB with v3 tables and no version row is a synth-ai DB (version 0).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

V3_TABLES: dict[str, str] = {
    "experiments": """
        CREATE TABLE IF NOT EXISTS experiments (
            experiment_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            description TEXT,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            configuration TEXT,
            metadata TEXT
        )""",
    "systems": """
        CREATE TABLE IF NOT EXISTS systems (
            system_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            system_type VARCHAR,
            description TEXT,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            metadata TEXT
        )""",
    "system_versions": """
        CREATE TABLE IF NOT EXISTS system_versions (
            version_id VARCHAR PRIMARY KEY,
            system_id VARCHAR NOT NULL,
            version_number VARCHAR NOT NULL,
            commit_hash VARCHAR,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            configuration TEXT,
            metadata TEXT,
            FOREIGN KEY(system_id) REFERENCES systems(system_id),
            UNIQUE(system_id, version_number)
        )""",
    "experimental_systems": """
        CREATE TABLE IF NOT EXISTS experimental_systems (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id VARCHAR NOT NULL,
            system_id VARCHAR NOT NULL,
            version_id VARCHAR NOT NULL,
            FOREIGN KEY(experiment_id) REFERENCES experiments(experiment_id),
            FOREIGN KEY(system_id) REFERENCES systems(system_id),
            FOREIGN KEY(version_id) REFERENCES system_versions(version_id)
        )""",
    "session_traces": """
        CREATE TABLE IF NOT EXISTS session_traces (
            session_id VARCHAR PRIMARY KEY,
            created_at DATETIME NOT NULL,
            num_timesteps INTEGER NOT NULL,
            num_events INTEGER NOT NULL,
            num_messages INTEGER NOT NULL,
            metadata TEXT,
            experiment_id VARCHAR,
            embedding VECTOR,
            FOREIGN KEY(experiment_id) REFERENCES experiments(experiment_id)
        )""",
    "session_timesteps": """
        CREATE TABLE IF NOT EXISTS session_timesteps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR NOT NULL,
            step_id VARCHAR NOT NULL,
            step_index INTEGER NOT NULL,
            turn_number INTEGER,
            started_at DATETIME,
            completed_at DATETIME,
            num_events INTEGER,
            num_messages INTEGER,
            step_metadata TEXT,
            UNIQUE(session_id, step_id),
            FOREIGN KEY(session_id) REFERENCES session_traces(session_id)
        )""",
    "events": """
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR NOT NULL,
            timestep_id INTEGER,
            event_type VARCHAR NOT NULL,
            system_instance_id VARCHAR,
            event_time FLOAT,
            message_time INTEGER,
            created_at DATETIME,
            model_name VARCHAR,
            provider VARCHAR,
            input_tokens INTEGER,
            output_tokens INTEGER,
            total_tokens INTEGER,
            cost_usd INTEGER,
            latency_ms INTEGER,
            span_id VARCHAR,
            trace_id VARCHAR,
            call_records TEXT,
            reward FLOAT,
            terminated BOOLEAN,
            truncated BOOLEAN,
            system_state_before TEXT,
            system_state_after TEXT,
            metadata TEXT,
            event_metadata TEXT,
            embedding VECTOR,
            CHECK (event_type IN ('cais', 'environment', 'runtime')),
            FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
            FOREIGN KEY(timestep_id) REFERENCES session_timesteps(id)
        )""",
    "messages": """
        CREATE TABLE IF NOT EXISTS messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR NOT NULL,
            timestep_id INTEGER,
            message_type VARCHAR NOT NULL,
            content TEXT NOT NULL,
            timestamp DATETIME,
            event_time FLOAT,
            message_time INTEGER,
            metadata TEXT,
            embedding VECTOR,
            CHECK (message_type IN ('user', 'assistant', 'system', 'tool_use', 'tool_result')),
            FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
            FOREIGN KEY(timestep_id) REFERENCES session_timesteps(id)
        )""",
    "outcome_rewards": """
        CREATE TABLE IF NOT EXISTS outcome_rewards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR NOT NULL,
            total_reward INTEGER NOT NULL,
            achievements_count INTEGER NOT NULL,
            total_steps INTEGER NOT NULL,
            created_at DATETIME NOT NULL,
            reward_metadata TEXT,
            FOREIGN KEY(session_id) REFERENCES session_traces(session_id)
        )""",
    "event_rewards": """
        CREATE TABLE IF NOT EXISTS event_rewards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id INTEGER NOT NULL,
            session_id VARCHAR NOT NULL,
            message_id INTEGER,
            turn_number INTEGER,
            reward_value FLOAT NOT NULL,
            reward_type VARCHAR,
            "key" VARCHAR,
            annotation TEXT,
            source VARCHAR,
            created_at DATETIME NOT NULL,
            FOREIGN KEY(event_id) REFERENCES events(id),
            FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
            FOREIGN KEY(message_id) REFERENCES messages(id)
        )""",
}

V3_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_session_created ON session_traces (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_session_experiment ON session_traces (experiment_id)",
    "CREATE INDEX IF NOT EXISTS idx_timestep_session_step ON session_timesteps (session_id, step_id)",
    "CREATE INDEX IF NOT EXISTS idx_timestep_turn ON session_timesteps (turn_number)",
    "CREATE INDEX IF NOT EXISTS idx_event_session_step ON events (session_id, timestep_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_type ON events (event_type)",
    "CREATE INDEX IF NOT EXISTS idx_event_created ON events (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_event_model ON events (model_name)",
    "CREATE INDEX IF NOT EXISTS idx_event_trace ON events (trace_id)",
    "CREATE INDEX IF NOT EXISTS idx_message_session_step ON messages (session_id, timestep_id)",
    "CREATE INDEX IF NOT EXISTS idx_message_type ON messages (message_type)",
    "CREATE INDEX IF NOT EXISTS idx_message_timestamp ON messages (timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_experiment_created ON experiments (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_experiment_name ON experiments (name)",
    "CREATE INDEX IF NOT EXISTS idx_system_name ON systems (name)",
    "CREATE INDEX IF NOT EXISTS idx_system_type ON systems (system_type)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_system_version ON system_versions (system_id, version_number)",
    "CREATE INDEX IF NOT EXISTS idx_version_system ON system_versions (system_id)",
    "CREATE INDEX IF NOT EXISTS idx_version_created ON system_versions (created_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_experiment_system ON experimental_systems (experiment_id, system_id)",
    "CREATE INDEX IF NOT EXISTS idx_experimental_system ON experimental_systems (experiment_id, system_id)",
    "CREATE INDEX IF NOT EXISTS idx_outcome_rewards_session ON outcome_rewards (session_id)",
    "CREATE INDEX IF NOT EXISTS idx_outcome_rewards_total ON outcome_rewards (total_reward)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_session ON event_rewards (session_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_event ON event_rewards (event_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_type ON event_rewards (reward_type)",
    'CREATE INDEX IF NOT EXISTS idx_event_rewards_key ON event_rewards ("key")',
)

# The synthkit tables each schema version brought; a DB of that version has all of them.
TABLES_SINCE: dict[int, tuple[str, ...]] = {1: ("judge_runs", "judge_scores", "judge_cache"), 2: ("rubric_scores",)}

SYNTHKIT_TABLES: dict[str, str] = {
    "synthkit_meta": """
        CREATE TABLE IF NOT EXISTS synthkit_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    "judge_runs": """
        CREATE TABLE IF NOT EXISTS judge_runs (
            run_id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT,
            judge_model TEXT,
            rubrics TEXT,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
            calls INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0
        )""",
    "judge_scores": """
        CREATE TABLE IF NOT EXISTS judge_scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES session_traces(session_id),
            run_id TEXT REFERENCES judge_runs(run_id),
            rubric_id TEXT NOT NULL,
            rubric_version TEXT NOT NULL,
            criterion TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('code', 'judge')),
            judge_model TEXT NOT NULL,
            score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 1)),
            outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'error', 'skipped')),
            reasoning TEXT,
            error TEXT,
            raw_answer TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost_usd REAL,
            latency_ms INTEGER,
            cache_key TEXT,
            created_at TEXT NOT NULL,
            CHECK (outcome != 'error' OR score IS NULL),
            UNIQUE (session_id, rubric_id, rubric_version, criterion, judge_model)
        )""",
    # A rubric's primary per session and judge, kept in step with judge_scores by the runner
    # (aggregate() may be the rubric's own code, so readers cannot recompute it from the rows).
    # judge_model is 'code' for rubrics without judge criteria; score is NULL when the rubric
    # did not apply (error NULL) or could not be scored (error says why).
    "rubric_scores": """
        CREATE TABLE IF NOT EXISTS rubric_scores (
            session_id TEXT NOT NULL REFERENCES session_traces(session_id),
            rubric_id TEXT NOT NULL,
            rubric_version TEXT NOT NULL,
            judge_model TEXT NOT NULL,
            weight REAL NOT NULL,
            score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 1)),
            error TEXT,
            run_id TEXT REFERENCES judge_runs(run_id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (session_id, rubric_id, rubric_version, judge_model)
        )""",
    "judge_cache": """
        CREATE TABLE IF NOT EXISTS judge_cache (
            cache_key TEXT PRIMARY KEY,
            raw_answer TEXT NOT NULL,
            parsed TEXT NOT NULL,
            model TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
}

SYNTHKIT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_judge_scores_session ON judge_scores (session_id)",
    "CREATE INDEX IF NOT EXISTS idx_judge_scores_rubric ON judge_scores (rubric_id, criterion)",
    "CREATE INDEX IF NOT EXISTS idx_judge_scores_run ON judge_scores (run_id)",
    "CREATE INDEX IF NOT EXISTS idx_rubric_scores_rubric ON rubric_scores (rubric_id, created_at)",
)

# Columns a reader relies on; a table missing one is not a trace DB this version can read.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "session_traces": ("session_id", "created_at", "metadata"),
    "session_timesteps": ("id", "session_id", "step_id", "step_index", "turn_number",
                          "started_at", "completed_at", "step_metadata"),
    "events": ("id", "session_id", "timestep_id", "event_type", "system_instance_id",
               "event_time", "call_records", "reward", "terminated", "truncated",
               "system_state_before", "system_state_after", "metadata", "event_metadata",
               "model_name", "provider", "input_tokens", "output_tokens", "cost_usd",
               "latency_ms"),
    "messages": ("id", "session_id", "timestep_id", "message_type", "content", "event_time",
                 "metadata"),
    "outcome_rewards": ("id", "session_id", "total_reward", "achievements_count", "total_steps",
                        "created_at", "reward_metadata"),
    "event_rewards": ("id", "event_id", "session_id", "turn_number", "reward_value",
                      "reward_type", "key", "annotation", "source", "created_at"),
}


def create(conn: sqlite3.Connection) -> None:
    """Create every table that is missing and record the schema version (inside a transaction)."""
    for ddl in (*V3_TABLES.values(), *V3_INDEXES, *SYNTHKIT_TABLES.values(), *SYNTHKIT_INDEXES):
        conn.execute(ddl)
    conn.execute("INSERT OR REPLACE INTO synthkit_meta (key, value) VALUES ('schema_version', ?)",
                 (str(SCHEMA_VERSION),))

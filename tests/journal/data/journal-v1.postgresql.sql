-- The journal's tables at schema version 1 (commit a59e0c0), as PostgreSQL DDL.
CREATE TABLE audit_log (
	seq INTEGER NOT NULL, 
	ts VARCHAR(40) NOT NULL, 
	operator VARCHAR(128) NOT NULL, 
	system VARCHAR(255), 
	run_id VARCHAR(64), 
	action VARCHAR(255) NOT NULL, 
	result VARCHAR(64) NOT NULL, 
	details TEXT NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE TABLE journal_meta (
	key VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (key)
);
CREATE TABLE runs (
	id VARCHAR(64) NOT NULL, 
	wave INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	operator VARCHAR(128) NOT NULL, 
	host VARCHAR(255) NOT NULL, 
	pid INTEGER NOT NULL, 
	pid_start BIGINT, 
	started_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	heartbeat_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	ended_at TIMESTAMP WITHOUT TIME ZONE, 
	resumes INTEGER NOT NULL, 
	note TEXT, 
	reason TEXT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_runs_status ON runs (status);
CREATE INDEX ix_runs_wave ON runs (wave);
CREATE TABLE steps (
	id SERIAL NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	wave INTEGER NOT NULL, 
	system VARCHAR(255) NOT NULL, 
	step VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempt INTEGER NOT NULL, 
	started_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	ended_at TIMESTAMP WITHOUT TIME ZONE, 
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	error TEXT, 
	undo JSON NOT NULL, 
	result JSON NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_step_per_run UNIQUE (run_id, system, step), 
	FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE INDEX ix_steps_run_id ON steps (run_id);
CREATE INDEX ix_steps_wave_system ON steps (wave, system);

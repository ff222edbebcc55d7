"""``python -m e2e``: a real Airflow 3.3 deployment on this machine, and scenarios run against it.

Postgres, Redis, the Saturn emulator and Airflow's api-server, scheduler, dag-processor, triggerer and two
Celery workers, each a process of its own on 127.0.0.1, started from packages alone (no Docker). The
scenarios trigger DAG runs through Airflow's REST API, break things on purpose (kill a worker, restart the
triggerer or the scheduler, take Saturn down) and check each outcome against the emulator's own state and
request counts. Everything is torn down at the end, also when a scenario fails or the run is interrupted.

Modules, one job each:

- ``runner``: the run (arguments, scenarios in order, table, teardown on any exit, kept logs);
- ``processes``: child processes in sessions of their own, stopped with their whole tree; ``waiting``:
  bounded waits and free ports;
- ``postgres``, ``redis_server``, ``emulator`` (the Saturn emulator and its controls; a second one in runner
  mode, which runs job commands for real, for ``@task.saturn``): the services;
- ``airflow_env`` (the configuration every component shares), ``hostname`` (how each names itself) and
  ``deployment`` (the whole deployment: start, health, restarts and kills);
- ``rest`` (Airflow's ``/api/v2``) and ``metadb`` (the trigger table): what the scenarios read;
- ``evidence`` (checks and notes of one scenario) and ``report`` (the table);
- ``scenarios/`` (one module per scenario) and ``dags/`` (the DAGs they run, besides ``example_dags/``).
"""

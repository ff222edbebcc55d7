"""Start the Saturn emulator and drive SaturnHook against it, printing what happens."""

from __future__ import annotations

import json
import os
import time

from airflow_provider_saturn.emulator import SaturnEmulator


def main() -> None:
    with SaturnEmulator(transition_seconds=1.0) as emulator:
        print(f"Saturn emulator at {emulator.url}")
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps(
            {"conn_type": "saturn", "host": emulator.url, "password": emulator.token}
        )
        from airflow_provider_saturn.hooks import SaturnHook

        hook = SaturnHook()
        print("test_connection:", hook.test_connection())
        project = hook.create_project(name="demo-project", jupyter_size="large", jupyter_auto_shutoff="1 hour")
        print(f"created project {project['name']} ({project['id']})")
        cluster = hook.create_dask_cluster(project["id"], n_workers=2)
        print(f"attached Dask cluster {cluster['id']}")
        print("start Jupyter server:", hook.start_jupyter_server(project["jupyter_server_id"])["status"])
        print("start Dask cluster:", hook.start_dask_cluster(cluster["id"])["status"])
        time.sleep(1.2)
        print("Jupyter server now:", hook.get_jupyter_server(project["jupyter_server_id"])["status"])
        print("Dask cluster now:", hook.get_dask_cluster(cluster["id"])["status"])
        print("stop Jupyter server:", hook.stop_jupyter_server(project["jupyter_server_id"])["status"])
        time.sleep(1.2)
        print("Jupyter server now:", hook.get_jupyter_server(project["jupyter_server_id"])["status"])
        hook.delete_project(project["id"])
        print("deleted; projects left:", len(hook.list_projects()))


if __name__ == "__main__":
    main()

"""TaskFlow decorators: ``@task.saturn`` runs a Python function as a Saturn Job; ``@task.saturn_dask`` gives a
function a Dask client on a Saturn Dask cluster."""

"""TaskFlow decorators: ``@task.saturn`` runs a Python function as a Saturn Job."""

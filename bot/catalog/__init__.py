"""The service catalog: which namespace, deployments, model, datasets and signals a service has."""

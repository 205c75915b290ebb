"""dflow: scientific-computing workflows that run locally, on Slurm and on Argo."""

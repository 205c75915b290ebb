"""Reusable test helpers for dflow plugins.

- :mod:`dflow.testing.storage_contract`: the contract suite every storage client passes.
- :mod:`dflow.testing.seaweedfs`: start and stop a SeaweedFS S3 server on loopback.

These modules import pytest; import them from tests only.
"""

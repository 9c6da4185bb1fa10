"""The registry service: model versions with lineage, review, approval, promotion across environments, ledger."""

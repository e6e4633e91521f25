"""Prefect flows of livepipe: thin wrappers; every task calls one livepipe library function."""

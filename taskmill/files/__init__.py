"""Files in and out of tasks through an S3-compatible object store.

Pure parts (paths, keys, stores) are shared by the operator, which resolves each
task's inputs, and the provider, which stages them; the transfer parts (client,
cache, staging) are the provider's and need the store's client library.
"""

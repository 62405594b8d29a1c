"""The application server's SIP runtime: sippy bridge, legs, executor of dialplan scripts, workers.

See docs/appserver.md. Entry points: :func:`polyvox.appserver.runtime.worker.main` (one worker
process) and ``polyvox appserver`` (N workers on consecutive ports).
"""

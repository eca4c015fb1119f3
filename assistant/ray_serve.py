"""The HTTP API as Ray Serve replicas: one ``checkpoint-qa serve`` app per replica, behind Ray Serve's proxy.

Each replica is the app a ``serve --workers`` process runs (``server.worker_app``): it opens the knowledge base
read-only and memory-mapped, so replicas on one node share one copy of it in the page cache, and it follows
``CURRENT``, so a build or update on the shared folder reaches every replica without a restart. Put the knowledge
base on storage every node can read (or the same path on each node) and run:

    serve run assistant.ray_serve:build index=/data/kb/pubmed replicas=4 cpus=4

Arguments: ``index`` (required), ``replicas`` (default 2), ``cpus`` per replica (default 1), ``engines`` (comma
separated, as ``serve --engines``), ``model`` (the query encoder's model when it is not the one the knowledge base
names). Without Ray, any load balancer in front of several ``checkpoint-qa serve`` processes does the same job.
"""

from __future__ import annotations

from .errors import AssistantError
from .server import WORKER_ENGINES


def _app():
    from .server import worker_app
    return worker_app()  # settings from the replica's environment, which ``build`` sets


def build(args: dict):
    """The Ray Serve application (``serve run assistant.ray_serve:build index=...``; see the module's docstring)."""
    try:
        from ray import serve
    except ImportError:
        raise AssistantError("replicas on Ray Serve need it: pip install 'checkpoint-qa[ray]'") from None
    if not args.get("index"):
        raise AssistantError("say which knowledge base to serve: serve run assistant.ray_serve:build index=PATH")
    env = {"CHECKPOINT_QA_INDEX": str(args["index"]), WORKER_ENGINES: str(args.get("engines", ""))}
    if args.get("model"):
        env["CHECKPOINT_QA_MODEL"] = str(args["model"])

    @serve.ingress(_app)
    class CheckpointQA:
        """One replica: the whole API, answered from the shared knowledge base."""

    deployment = serve.deployment(CheckpointQA, name="checkpoint-qa", num_replicas=int(args.get("replicas", 2)),
                                  ray_actor_options={"num_cpus": float(args.get("cpus", 1)),
                                                     "runtime_env": {"env_vars": env}})
    return deployment.bind()

"""The API as Ray Serve replicas (``assistant.ray_serve``) on a local Ray cluster: two replicas answer, and a new
version made live in the shared folder reaches every replica without a restart."""

import os
import shutil
import socket
import time

import httpx
import pytest

from assistant.kb.store import KnowledgeBase, _point_at


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replicas_behind_ray_serve_answer_and_follow_a_new_version(shipped_fake_kb, tmp_path):
    ray = pytest.importorskip("ray")
    serve = pytest.importorskip("ray.serve")
    from assistant.ray_serve import build

    index = tmp_path / "kb"
    shutil.copytree(shipped_fake_kb, index)
    port = _free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build({"index": str(index), "replicas": 2, "cpus": 0.5}), name="checkpoint-qa", route_prefix="/")
        status = serve.status().applications["checkpoint-qa"].deployments["checkpoint-qa"]
        assert status.replica_states.get("RUNNING") == 2
        base = f"http://127.0.0.1:{port}"
        hits = httpx.post(f"{base}/search", json={"query": "JAK1 JAK2 loss of function", "k": 3}, timeout=60)
        assert hits.status_code == 200 and hits.json()["hits"][0]["title"]

        live = KnowledgeBase.live_version(index)  # a new version, made live as a build makes one
        staging = index / ".building-copy"
        shutil.copytree(live, staging, copy_function=os.link)
        os.rename(staging, index / (live.name + "-next"))
        _point_at(index, live.name + "-next")
        deadline, seen = time.time() + 30, set()
        while time.time() < deadline:
            seen = {httpx.get(f"{base}/health", timeout=10).json()["knowledge_base"] for _ in range(12)}
            if seen == {live.name + "-next"}:
                break
            time.sleep(0.5)
        assert seen == {live.name + "-next"}  # every replica switched, none was restarted
    finally:
        serve.shutdown()
        ray.shutdown()

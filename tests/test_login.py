"""The chat's login fails closed: no valid entry is an error, exposure needs --no-auth, guessing is rate-limited."""

import pytest

from assistant.cli import main
from assistant.errors import ConfigError
from assistant.login import LoginGuard, check_exposure, read_users


def test_users_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    assert read_users() is None
    monkeypatch.setenv("CHECKPOINT_QA_AUTH", "ana:s3cret,bo:pw")
    assert read_users() == {"ana": "s3cret", "bo": "pw"}
    path = tmp_path / "users"
    path.write_text("# users\ncarl:pa:ss\n")
    assert read_users(str(path)) == {"carl": "pa:ss"}
    path.write_text("nopassword\n")
    with pytest.raises(ConfigError, match="user:password"):
        read_users(str(path))


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "   \n# two\n"])
def test_an_auth_file_without_a_user_is_an_error(tmp_path, content):
    path = tmp_path / "users"
    path.write_text(content)
    with pytest.raises(ConfigError, match="names no user"):
        read_users(str(path))


def test_chat_with_an_empty_auth_file_does_not_start(tmp_path, capsys):
    path = tmp_path / "users"
    path.write_text("# nobody yet\n")
    assert main(["chat", "--no-build", "--auth-file", str(path), "--index", str(tmp_path / "kb")]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_a_non_loopback_address_needs_a_login_or_no_auth():
    assert check_exposure("127.0.0.1", False, False) is None
    assert check_exposure("::1", False, False) is None
    assert check_exposure("0.0.0.0", True, False) is None
    with pytest.raises(ConfigError, match="--no-auth"):
        check_exposure("0.0.0.0", False, False)
    assert "open to anyone" in check_exposure("192.168.1.5", False, True)


def test_serve_on_all_interfaces_without_no_auth_is_refused(tmp_path, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "kb")]) == 1
    assert "--no-auth" in capsys.readouterr().err


def test_failed_logins_are_rate_limited():
    now = [0.0]
    guard = LoginGuard({"ana": "s3cret"}, max_failures=3, window_s=60, clock=lambda: now[0])
    assert guard("ana", "s3cret")
    for _ in range(3):
        assert not guard("ana", "guess")
    assert not guard("ana", "s3cret")  # locked, even with the right password
    assert guard.locked("ana") and not guard.locked("bo")
    now[0] = 61
    assert guard("ana", "s3cret")
    assert not guard("nobody", "x") and not guard("", "")

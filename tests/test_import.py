import subprocess
import sys


def test_import_assistant_loads_neither_gradio_nor_torch():
    code = ("import assistant, sys; assistant.Record; assistant.Retriever; "
            "heavy = [m for m in ('gradio', 'torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_names_resolve():
    import assistant
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None


def test_cli_help_does_not_import_torch():
    code = ("import sys; from assistant.cli import main; rc = main(['--help']); "
            "assert rc == 0; assert 'torch' not in sys.modules and 'gradio' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "build" in out.stdout and "ask" in out.stdout

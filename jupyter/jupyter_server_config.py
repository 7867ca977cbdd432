"""Jupyter server settings of this project's environment (the Makefile copies jupyter/ into
.venv/etc/jupyter, as it installs the "Python (ikd)" kernel there; `make lab` uses them).

Each notebook is a pair, notebooks/<name>.ipynb and its text twin <name>.py (jupytext keeps them
in sync: saving one saves both; docs/notebooks.md). A file browser that lists both leaves a
participant guessing which to open, so a listing leaves out a .py whose .ipynb sits beside it.
Nothing else is hidden: the library's own .py files (ikd_lib/workshop.py, ...) stay listed, and a
hidden twin still opens by its path. jupytext's server extension derives its contents manager
from this class, so pairing works as before.

Beside it, labconfig/default_setting_overrides.json sets JupyterLab's defaults for the project: no
"get notified about Jupyter news?" prompt over the notebook at the first start (and no request to
the news feed), and a file browser that follows the open notebook into notebooks/.
"""
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


class PairsListedOnce(AsyncLargeFileManager):
    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model["type"] == "directory" and model.get("content"):
            names = {item["name"] for item in model["content"]}
            model["content"] = [item for item in model["content"]
                                if not (item["name"].endswith(".py") and item["name"][:-3] + ".ipynb" in names)]
        return model


c = get_config()  # noqa: F821 (the config loader defines it)
c.ServerApp.contents_manager_class = PairsListedOnce

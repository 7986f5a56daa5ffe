"""What ``Notebooks/HW14_MAML.ipynb`` calls beyond the rest of :mod:`hw14_lib`, imported there as
``from hw14_lib import notebook as nb``:

* :mod:`~hw14_lib.notebook.settings`: its two modes (full and quick), strict warnings, widget
  detection, embedded images and animations;
* :mod:`~hw14_lib.notebook.results`: the committed result folders it shows (read with
  :mod:`hw14_lib.run.run_folder` and :mod:`hw14_lib.report.data`);
* :mod:`~hw14_lib.notebook.tables`: its tables as HTML, one line per row, methods in their figure colours;
* :mod:`~hw14_lib.notebook.adaptation`: the interactive adaptation to a task of the user's choice.

The notebook defines no function or class of its own (a test enforces it), so every step that is
more than a call lives here, where tests reach it. Each helper returns what its cell shows (images,
tables, :class:`~hw14_lib.notebook.settings.Note` lines); none prints on the side.
"""

from hw14_lib.notebook.adaptation import (
    EXPLORER_NOTE,
    AdaptationDemo,
    AdaptationExplorer,
    MetaTrainedPolicy,
    adaptation_demo,
    adaptation_explorer,
    make_task,
    meta_trained_policy,
)
from hw14_lib.notebook.results import (
    BASELINE_METHODS,
    FAMILY_PREFIXES,
    adaptation_results,
    adaptation_table,
    comparable_results,
    extension_results,
    family_results,
    family_runs,
    full_run_candidates,
    full_run_folder,
    full_run_note,
    later_step_results,
    run_status,
    run_video,
    training_figures,
)
from hw14_lib.notebook.settings import (
    Note,
    NotebookSettings,
    animation,
    caption,
    configure_notebook,
    env_flag,
    find_repo_root,
    has_widget_frontend,
    image,
    live_training_config,
    notebook_settings,
    project_path,
)
from hw14_lib.notebook.tables import HtmlTable, extensions_html, later_steps_html, protocol_html

__all__ = [
    "BASELINE_METHODS",
    "EXPLORER_NOTE",
    "FAMILY_PREFIXES",
    "AdaptationDemo",
    "AdaptationExplorer",
    "HtmlTable",
    "MetaTrainedPolicy",
    "Note",
    "NotebookSettings",
    "adaptation_demo",
    "adaptation_explorer",
    "adaptation_results",
    "adaptation_table",
    "animation",
    "caption",
    "comparable_results",
    "configure_notebook",
    "env_flag",
    "extension_results",
    "extensions_html",
    "family_results",
    "family_runs",
    "find_repo_root",
    "full_run_candidates",
    "full_run_folder",
    "full_run_note",
    "has_widget_frontend",
    "image",
    "later_step_results",
    "later_steps_html",
    "live_training_config",
    "make_task",
    "meta_trained_policy",
    "notebook_settings",
    "project_path",
    "protocol_html",
    "run_status",
    "run_video",
    "training_figures",
]

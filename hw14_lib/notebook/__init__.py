"""What ``Notebooks/HW14_MAML.ipynb`` calls beyond the rest of :mod:`hw14_lib`, imported there as
``from hw14_lib import notebook as nb``:

* :mod:`~hw14_lib.notebook.settings`: its two modes (full and quick), strict warnings, widget
  detection, embedded images and animations;
* :mod:`~hw14_lib.notebook.results`: the committed result folders it shows;
* :mod:`~hw14_lib.notebook.adaptation`: the interactive adaptation to a task of the user's choice.

The notebook defines no function or class of its own (a test enforces it), so every step that is
more than a call lives here, where tests reach it.
"""

from hw14_lib.notebook.adaptation import (
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
    family_folders,
    family_results,
    full_run_folder,
    later_step_results,
    read_summary,
    run_status,
    run_video,
    training_figures,
)
from hw14_lib.notebook.settings import (
    NotebookSettings,
    animation,
    configure_notebook,
    env_flag,
    find_repo_root,
    has_widget_frontend,
    image,
    live_training_config,
    notebook_settings,
)

__all__ = [
    "BASELINE_METHODS",
    "FAMILY_PREFIXES",
    "AdaptationDemo",
    "AdaptationExplorer",
    "MetaTrainedPolicy",
    "NotebookSettings",
    "adaptation_demo",
    "adaptation_explorer",
    "adaptation_results",
    "adaptation_table",
    "animation",
    "configure_notebook",
    "env_flag",
    "family_folders",
    "family_results",
    "find_repo_root",
    "full_run_folder",
    "has_widget_frontend",
    "image",
    "later_step_results",
    "live_training_config",
    "make_task",
    "meta_trained_policy",
    "notebook_settings",
    "read_summary",
    "run_status",
    "run_video",
    "training_figures",
]

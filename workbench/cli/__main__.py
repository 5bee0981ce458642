from workbench import startup_gc

startup_gc.pause()  # resumed once the model is loaded (workbench/startup_gc.py)

from workbench.cli.fast_exit import exit_now  # noqa: E402
from workbench.cli.main import main  # noqa: E402

exit_now(main())

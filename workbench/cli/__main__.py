from workbench.cli.fast_exit import exit_now
from workbench.cli.main import main

exit_now(main())

import sys

from facerecon.cli import main

sys.exit(main())

import sys

from storfs.cli import main

sys.exit(main())

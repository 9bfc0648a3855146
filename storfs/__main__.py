from storfs.cli import run

run()

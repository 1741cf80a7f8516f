from stream.cli import run

run()

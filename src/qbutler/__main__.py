from qbutler.cli import main

main()

from zeb.cli import main

main()

from cance_cli.cli import main

main()

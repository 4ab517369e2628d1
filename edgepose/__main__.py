from edgepose.cli.app import main

main()

from iaspipe.cli import main

main()

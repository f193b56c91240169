from notifier.launcher import main

raise SystemExit(main())

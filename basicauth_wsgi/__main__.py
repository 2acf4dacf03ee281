from basicauth_wsgi.cli import main

raise SystemExit(main())

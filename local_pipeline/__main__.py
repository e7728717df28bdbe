from local_pipeline.cli import main

raise SystemExit(main())

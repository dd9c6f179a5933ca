"""legatura: the warehouse helpers, migrations, segments and views."""

"""Only what pyproject.toml cannot say: `resources/` ships inside the package as
`notifier.resources`.

resources/ stays where it is, the one source of the icons, chimes and translations (the
PyInstaller spec and the .deb take them from there too). setuptools maps it as the package
`notifier.resources` (package_dir), so a wheel carries the files at notifier/resources/, where
notifier.core.paths.resources_dir() looks when the program is installed; a source checkout and an
editable install read resources/ itself. No files are copied by hand and no link is needed
(a symlink would break on Windows checkouts).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["notifier", "notifier.*"]), "notifier.resources"],
    package_dir={"notifier.resources": "resources"},
    package_data={"notifier.resources": [
        "icons/*.png", "icons/*.ico", "icons/*.svg", "sounds/*.wav",
        "translations/*.qm", "translations/*.json", "notifier.desktop",
    ]},
)

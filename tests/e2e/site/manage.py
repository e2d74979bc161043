#!/usr/bin/env python3
"""The end-to-end site's manage.py, as startproject writes one."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2esite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

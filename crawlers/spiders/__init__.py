"""Spiders of the copyhound Scrapy project."""

"""Packaging for mliis_nb: everything is read from settings.ini (the nbdev 2 layout)."""

from configparser import ConfigParser
import shlex
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

for o in (
    'version description keywords author author_email lib_name user min_python license status audience language'
).split():
    assert o in cfg, f'settings.ini is missing the key "{o}"'

licenses = {'mit': ('MIT License', 'OSI Approved :: MIT License')}
statuses = [
    '1 - Planning',
    '2 - Pre-Alpha',
    '3 - Alpha',
    '4 - Beta',
    '5 - Production/Stable',
    '6 - Mature',
    '7 - Inactive',
]
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
docs_requirements = shlex.split(cfg.get('docs_requirements', ''))
min_python = cfg['min_python']
lic = licenses[cfg['license'].lower()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
        'License :: ' + lic[1],
    ]
    + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python) :]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['mliis_nb', 'mliis_nb.*']),
    include_package_data=True,
    package_data={
        'mliis_nb': [
            'checkpoints/*.safetensors',
            'checkpoints/*.json',
            'splits/*.txt',
            'splits/*/*.txt',
            'splits/pascal5i/*/*.txt',
        ]
    },
    install_requires=requirements,
    extras_require={'dev': dev_requirements + docs_requirements, 'docs': docs_requirements},
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
)

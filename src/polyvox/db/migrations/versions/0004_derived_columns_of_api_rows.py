"""derived columns of rows written before the write path computed them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Rows created through the API before the write-time rules existed lack the columns IvozProvider
derives on every write: the SIP domain of terminals, friends, retail accounts and residential
devices, and the E.164 number, country and brand of DDIs. This fills the missing ones with the
values the rules would have written (src/polyvox/api/rules/endpoints.py, ddis.py) and leaves
every row that already has them as it is.
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_VPBX_DOMAIN = ("(SELECT MIN(d.id) FROM domains d WHERE d.\"companyId\" = {t}.\"companyId\")")
_BRAND_DOMAIN = ("(SELECT MIN(d.id) FROM domains d JOIN companies c ON c.\"brandId\" = d.\"brandId\" "
                 "WHERE c.id = {t}.\"companyId\" AND d.\"companyId\" IS NULL)")


def upgrade() -> None:
    for table, domain in (("terminals", _VPBX_DOMAIN), ("friends", _VPBX_DOMAIN),
                          ("retail_accounts", _BRAND_DOMAIN), ("residential_devices", _BRAND_DOMAIN)):
        op.execute(f'UPDATE {table} SET "domainId" = {domain.format(t=table)} '
                   f'WHERE "domainId" IS NULL AND "companyId" IS NOT NULL')
    op.execute('UPDATE ddis SET "countryId" = (SELECT c."countryId" FROM companies c WHERE c.id = ddis."companyId") '
               'WHERE "countryId" IS NULL AND "companyId" IS NOT NULL')
    op.execute('UPDATE ddis SET "brandId" = (SELECT c."brandId" FROM companies c WHERE c.id = ddis."companyId") '
               'WHERE "brandId" IS NULL AND "companyId" IS NOT NULL')
    op.execute('UPDATE ddis SET ddie164 = (SELECT co."countryCode" FROM countries co WHERE co.id = ddis."countryId") '
               '|| ddis.ddi WHERE ddie164 IS NULL AND "countryId" IS NOT NULL AND ddi IS NOT NULL')


def downgrade() -> None:
    pass

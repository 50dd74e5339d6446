"""billing: invoices and credit notes of the orders, their numbering, tax rates and PDFs."""

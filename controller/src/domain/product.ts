/** A commercial (or internal) CA product (SPEC R7, A3). Shipped as data, editable in the database. */
export interface Product {
  id: string;
  vendor: string;
  name: string;
  validationLevel: 'DV' | 'OV' | 'EV';
  wildcard: boolean;
  multiDomain: boolean;
  maxValidityDays: number;
  url: string;
  /** Which issuer kind serves it: `acme`, `manual`, `internal-ca`. */
  issuerType: string;
  builtin: boolean;
  updatedAt: Date;
}

/** A patient body as the API takes it (PUT /v1/patients/{id}), with `over` replacing fields. */
export const samplePatient = (over: Record<string, unknown> = {}) => ({
  name: { given: ['Ana'], family: 'Lopez' },
  birthDate: '1980-04-02',
  telecom: [
    { system: 'sms', value: '+14155552671', rank: 1 },
    { system: 'email', value: 'ana@example.com', rank: 2 },
  ],
  language: 'en',
  timeZone: 'America/New_York',
  ...over,
});

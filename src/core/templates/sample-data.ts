import type { NotificationType } from '../domain.js';

/**
 * Invented data for template previews (the console's Settings screen): no real patient's, ever.
 * One set per notification type, every optional variable filled, so a preview shows every line.
 */
export const SAMPLE_DATA: Record<NotificationType, Record<string, string | number>> = {
  appointment_reminder: {
    start: '2030-03-04T14:30:00Z',
    end: '2030-03-04T15:00:00Z',
    location: 'Sample Clinic, Room 4',
    clinicianName: 'Dr. Sample Example',
    instructions: 'Please arrive 10 minutes early.',
  },
  test_result_ready: {
    testName: 'Sample blood test',
    collectedOn: '2030-02-27',
    orderingClinician: 'Dr. Sample Example',
    instructions: 'Book a follow-up visit to review it.',
  },
  medication_reminder: {
    medicationName: 'Sample medicine',
    dosage: '1 tablet',
    doseTime: '2030-03-04T13:00:00Z',
    instructions: 'Take with food.',
  },
  prescription_ready: {
    medicationName: 'Sample medicine',
    pharmacyName: 'Sample Pharmacy',
    pharmacyAddress: '1 Example Street',
    pickupBy: '2030-03-11',
    instructions: 'Bring an ID.',
  },
  follow_up: {
    reason: 'Sample follow-up visit',
    dueDate: '2030-03-18',
    clinicianName: 'Dr. Sample Example',
    instructions: 'Call us to book a time.',
  },
  billing_statement: {
    amount: 42.5,
    currency: 'USD',
    dueDate: '2030-03-31',
    statementId: 'SAMPLE-0001',
  },
};

/** A sample patient's time zone for previews (date-times are shown in it). */
export const SAMPLE_TIME_ZONE = 'America/New_York';

/** The link a preview shows in place of a real one-time portal link. */
export const sampleLink = (publicUrl: string) => `${publicUrl.replace(/\/+$/, '')}/m/l/SAMPLE`;

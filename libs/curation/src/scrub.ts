/**
 * Remove what could identify a patient from free text bound for published files: file paths (folders
 * are often named after patients) and DICOM UIDs. Applied to every warning and reason we publish.
 */
export function scrub(text: string): string {
  return text
    .replace(/(?:[A-Za-z]:)?(?:[\\/][^\s\\/:'"]+){2,}[\\/]?/g, '<path>')
    .replace(/\b\d+(?:\.\d+){3,}\b/g, '<uid>');
}
